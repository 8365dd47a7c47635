"""What pyro-vae reads and writes besides tensors: files written atomically and JSON read back
with one-line errors (:mod:`.files`), configuration files (:mod:`.config_file`), Markdown / CSV
tables and the machine description (:mod:`.tables`), and pictures (:mod:`.pictures`)."""
