"""Stage outputs as training-ready SFT data: chat formats, balanced reasoning, stable splits."""
