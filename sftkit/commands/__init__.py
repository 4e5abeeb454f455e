"""The command-line programs behind the thin scripts in selectors/, hpc/ and upload/."""
