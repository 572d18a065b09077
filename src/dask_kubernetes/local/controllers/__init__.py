"""The emulated control plane's controllers, cut down from kube-controller-manager's.

They act on the emulator's store directly (no HTTP), which is why they exist only for the emulated
control plane; the real one runs kube-controller-manager. `manager.ControllerManager` runs them;
the composition (`local/emulated.py`) starts it beside the API server.
"""
