"""Token stores: the TokenStore seam (base.py), the backends (file.py, redis.py), the state
format (state.py, codec.py, crypto.py) and the choice of backend by URL (opening.py)."""
