"""One phase's training: the Trainer and what it runs on (CPU threads, bf16 autocast on CPU,
torch.compile of the backbone, BN re-estimation after a hand-over, disk space, the check of a
changed config on --resume)."""
