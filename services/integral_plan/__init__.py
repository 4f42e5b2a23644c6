"""integral-plan: one plan per child, projected from every domain's events."""
