"""Paid membership through Stripe: Checkout, Billing Portal and verified webhooks."""
