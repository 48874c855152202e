"""Paper 004: randomized response, the value of privacy and the peer-prediction payments."""
