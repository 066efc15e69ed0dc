"""Editor insight: what each issue did, how the audience grows, and how engaged members are."""
