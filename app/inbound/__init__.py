"""Inbound mail: bounces and complaints coming back to Kith, and replies by email."""
