"""OKX v5 through ccxt and ccxt.pro (``venue.OkxVenue``)."""
