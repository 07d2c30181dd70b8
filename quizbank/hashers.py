"""The hash of a one-time password a class import hands out.

A roster of hundreds of students is made in one request, and the default hasher takes about 0.4 s an
account on one core here. A one-time password is random (10 letters of 31: about 50 bits), lives
until the student's first sign-in, and is replaced then by one they choose, hashed the default way;
20,000 PBKDF2 rounds keep an offline search over 50 bits out of reach while making an account in
about 10 ms."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneTimePasswordHasher(PBKDF2PasswordHasher):
    algorithm = "pbkdf2_sha256_onetime"
    iterations = 20_000
