"""The daemon's imperative shell around the margin engine and the policy: the service that consumes
the venues' events (``service``), the engine that keeps accounts and marks (``engine``), the work
done between decisions (``idle``), assembly and the process runner (``app``, ``runner``), health,
systemd notification and status (``health``, ``sdnotify``, ``status``), the ports it is wired through
(``ports``), its configuration (``config``) and its state file (``store``)."""
