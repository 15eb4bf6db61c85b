"""``python -m oauthcli``."""

from oauthcli.entry import main

if __name__ == "__main__":
    main()
