"""``python -m oauthcli``."""

from oauthcli.cli import main

if __name__ == "__main__":
    main()
