"""Inbound mail: bounces and complaints coming back to Kith (replies come later)."""
