"""Credentials the stand-in hands out, one home each: the certificate authorities and the
certificates they issue (`pki`), and kubeconfigs (`kubeconfig`), for the emulator, the real
control plane, the kubelet and the operator alike.
"""
