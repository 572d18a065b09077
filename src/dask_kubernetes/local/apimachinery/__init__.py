"""What every part of the stand-in reads the same way about API requests and objects, as
Kubernetes keeps it in k8s.io/apimachinery: `Status` errors (`errors`), label and field selectors
(`selectors`) and the audit record of a request (`audit`, which the emulator keeps and the real
plane's audit log is read into).

The bottom of `local/`: it imports nothing else of it.
"""
