"""Publishing ``ds-runner execute`` results to GitLab: the MR comment, the wiki, releases."""
