"""``python -m oauthcli``."""

from oauthcli.fastpath import main

if __name__ == "__main__":
    main()
