"""Provisioning the real control plane's binaries, apart from the code that runs them (as envtest
keeps setup-envtest apart): Go toolchain selection (`golang`), the pinned Go modules in tools/kube/
(`gomod`), the content-keyed build cache (`build`), where the clone is (`paths`), and the command
`python -m dask_kubernetes.local.provision build | gomod`.

Nothing here imports the runtime; the runtime asks it only where a verified build of the committed
pins is (`build.find_built`, from `real.py`) and where the clone is (`paths`).
"""
