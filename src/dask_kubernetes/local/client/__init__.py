"""The Kubernetes API client every agent of the stand-in uses: the kubelet, the network agent,
the operator's installer and the compositions (`api_client`: requests with retries and checked
paths; `informer`: list-then-watch caches).

It speaks plain HTTP(S) to whatever API server it is given (the emulator or the real
kube-apiserver) and imports nothing of either.
"""
