"""The reconcile kit: what every resource's handlers share, so each keeps only its `reconcile()`.

`runtime` (the shared state), `cache` (watch-fed indexes), `flow` (get → reconcile → status
write, owner references, the retry and converge intervals), `status` (write only what changed),
`periodic` (reconciles on a schedule without kopf timers) and `events`.
"""
