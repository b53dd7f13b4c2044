"""static-registry: a container registry with no server.

Builds Singularity/Apptainer recipes, stores the images in object storage the group
already pays for, and publishes manifests to a GitHub Pages registry repository through
pull requests.
"""

__version__ = "0.1.0"
