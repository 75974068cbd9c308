"""The pieces of labkit.report, one file per idea: finding runs (runs), showing (show), runs compared in words
(words), tables (tables), figures (figures). Import them from labkit.report."""
