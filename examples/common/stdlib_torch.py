"""PyTorch twins of the composite layers in stdlib/nn.slu, with the same
state_dict names, so that a trained module's weights load into the Sluice
layer as they are."""
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    """stdlib/nn.slu: layer mlp[i, h, o] = fc2(relu(fc1(x)))"""

    def __init__(self, i, h, o):
        super().__init__()
        self.fc1 = nn.Linear(i, h)
        self.fc2 = nn.Linear(h, o)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
