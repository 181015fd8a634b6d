"""The statistics of voting, plain Python (numpy/scipy, no Django): Bradley–Terry
ratings with ties and position bias (`ranking`), active pair selection (`pairing`),
rater reliability from golden pairs (`reliability`) and the simulations that
benchmark them (`simulation`)."""
