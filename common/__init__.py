"""Small helpers every package may import (standard library only, importing none of ours): retry
backoff and file hashing. They sit below models/, streams/, evidence/ and api/ in the layering."""
