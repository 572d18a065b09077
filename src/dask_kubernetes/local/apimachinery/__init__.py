"""What every part of the stand-in reads the same way about API objects, as Kubernetes keeps it in
k8s.io/apimachinery: `Status` errors (`errors`) and label and field selectors (`selectors`).

The bottom of `local/`: it imports nothing else of it.
"""
