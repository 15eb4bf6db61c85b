"""Grants: the seam (base.py), the registry of grant types (registry.py), the driver that runs
any of them (driver.py), and one module per grant."""
