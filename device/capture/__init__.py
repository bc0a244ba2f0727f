"""`edgecnn capture`: camera frames saved as a labelled data set, as the model will see them."""
