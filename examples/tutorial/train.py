"""The tutorial's model: a small early-exit MLP on scikit-learn's digits.

    /usr/bin/python3 examples/tutorial/train.py [OUT_DIR]

Trains in PyTorch, then saves what Sluice reads: the state_dict as
safetensors (tiny_ee.safetensors) and the held-out inputs and labels as
.npy (test_x.npy, test_labels.npy), in OUT_DIR (default: this folder).
Deterministic: the same files every run.  See docs/tutorial.md.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
from slutil import save_safetensors  # noqa: E402  (a small safetensors writer)


class EarlyExitMLP(nn.Module):
    """fc1 -> head1 (the early exit); fc2 -> out (the final head).

    The attribute names are the state_dict names ("fc1.weight", ...), which
    are the names the Sluice model's params must have."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 64)
        self.head1 = nn.Linear(64, 10)
        self.fc2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        early = self.head1(h)
        h = torch.relu(self.fc2(h))
        return early, self.out(h)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else HERE
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(2)

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)  # pixel values 0..16 -> 0..1
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)

    model = EarlyExitMLP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(300):  # full batch: the whole training set is 1437 images
        early, final = model(xt)
        loss = loss_fn(early, yt) + loss_fn(final, yt)  # both heads trained jointly
        opt.zero_grad()
        loss.backward()
        opt.step()

    model.eval()
    with torch.no_grad():
        early, final = model(torch.from_numpy(x_test))
    for name, logits in (("early exit head", early), ("final head", final)):
        acc = (logits.argmax(1).numpy() == y_test).mean()
        print(f"{name}: test accuracy {acc:.4f}")

    save_safetensors(os.path.join(out_dir, "tiny_ee.safetensors"), model.state_dict())
    np.save(os.path.join(out_dir, "test_x.npy"), x_test)
    np.save(os.path.join(out_dir, "test_labels.npy"), y_test.astype(np.float32))
    print(f"wrote tiny_ee.safetensors, test_x.npy, test_labels.npy to {out_dir}")


if __name__ == "__main__":
    main()
