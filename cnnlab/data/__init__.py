"""The data stage: fetch, extract, clean, split (PetImages) and parse (CIFAR-10).

Every writer here goes through `cnnlab.jobio.atomic_output`, so an interrupted job never leaves a
half-written output that looks finished.
"""
