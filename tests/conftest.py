import os
import sys

import torch
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "handgrad", max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "handgrad"))

# The tests' tensors are tiny: a second thread only adds synchronisation, and on a busy
# two-core machine it made small convolutions a hundred times slower. (Tests only:
# handgrad itself never sets the thread count.)
torch.set_num_threads(1)
