"""The run report: report.json and its page (`build`; the page itself `html`, `svg`), the
terminal summary (`terminal`) and the comparison of two runs (`compare`)."""
