"""The stages: each reads its input by key, writes its outputs by key."""
