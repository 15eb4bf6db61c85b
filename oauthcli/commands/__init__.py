"""One module per command: parse → call core → render."""
