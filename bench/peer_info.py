"""What the PyTorch peer was built with, for the tables (imported by the bench/torch_*.py scripts)."""
import re

import torch


def peer_build():
    """The math libraries this torch was built with: the tables name them next to the version."""
    found = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    blas = found.group(1) if found else "unknown"
    return f"BLAS {blas}, oneDNN {'yes' if torch.backends.mkldnn.is_available() else 'no'}"
