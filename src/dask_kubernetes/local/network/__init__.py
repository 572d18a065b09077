"""The local cluster's network: addresses for pods and Services, kube-proxy's forwarders, the
Endpoints/load-balancer loop, and the start-up hook that gives each pod process cluster DNS.

Kept apart from the kubelet so the node agent only runs pods; the network can be swapped (loopback
addresses today, a network namespace for the real control plane) without touching it.
"""
