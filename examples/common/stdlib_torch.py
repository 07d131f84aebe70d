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


class ClsHead(nn.Module):
    """stdlib/transformer.slu: layer cls_head[d, classes] = fc(norm(x[0])),
    on the first token of a batch-first sequence [B, S, d]."""

    def __init__(self, d, classes):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, classes)

    def forward(self, h):
        return self.fc(self.norm(h[:, 0]))


class MeanHead(nn.Module):
    """stdlib/transformer.slu: layer mean_head[d, classes] =
    fc(norm(pool_mean(x))), the mean over each input's own tokens:
    ``pad`` is a [B, S] bool mask, True at padding (as
    src_key_padding_mask), or None when every token is real."""

    def __init__(self, d, classes):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, classes)

    def forward(self, h, pad=None):
        if pad is None:
            m = h.mean(1)
        else:
            keep = (~pad).unsqueeze(-1).to(h.dtype)
            m = (h * keep).sum(1) / keep.sum(1)
        return self.fc(self.norm(m))
