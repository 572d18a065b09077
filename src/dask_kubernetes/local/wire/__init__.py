"""Wire protocols both sides of the stand-in speak: SPDY/3.1 framing and the port-forward
stream pairs over it (what `kubectl port-forward` and kubelets use), and the container log files
with their follow/select rules (what `kubectl logs` streams).

The emulator's API server and the kubelet's server both serve them; neither owns them.
"""
