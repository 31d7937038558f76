package nomadmirage.solo5;

/** Where a Solo5 note's content (its descriptor after the alignment padding) lies in the file. */
record NoteContent(NoteKind kind, int programHeader, long offset, int size) {
}
