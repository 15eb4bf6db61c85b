"""The profiles file: locate and read it (load.py), its schema (schema.py), the frozen model
(model.py), references (refs.py), the parsed copy (cache.py) and the linter (lint.py)."""
