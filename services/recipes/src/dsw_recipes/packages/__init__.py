"""Recipe packages: safe unpacking, git import, the content hash and storage in the lake."""
