"""Modal screens: space editor, export path prompt, confirmations, help."""
