"""Discussions: a reply thread under every issue, gated forums, replies by email, moderation."""
