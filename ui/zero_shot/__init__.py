"""The Zero-shot page's panels: the prediction views (``view``) and the prompt lab (``prompt_lab``)."""
