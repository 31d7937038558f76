package main

// ELF handling of the TEST STAND-IN: locating the Solo5 notes through the
// program headers and validating them (tenders/common/elf.c elf_load_note,
// tenders/common/mft.c mft_validate), plus the load-time sanity checks of
// elf_load, with the real tenders' messages.

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
)

var le = binary.LittleEndian

const (
	noteTypeABI1 = 0x31494241 // "ABI1"
	noteTypeMFT1 = 0x3154464d // "MFT1"

	// Descriptor size limits passed to elf_load_note by the tenders.
	abiNoteMaxSize = 32                              // ABI1_NOTE_MAX_SIZE
	mftNoteMaxSize = 12 + mftMaxEntries*mftEntrySize // MFT1_NOTE_MAX_SIZE

	mftMaxEntries = 64
	mftEntrySize  = 104
	mftNameSize   = 68
	mftNameMax    = 67

	mftBlockBasic           = 1
	mftNetBasic             = 2
	mftReservedFirst uint32 = 1 << 30

	guestMinBase  = 0x100000 // HVT_GUEST_MIN_BASE, SPT_GUEST_MIN_BASE
	pageSize      = 0x1000
	invExe        = "invalid executable"
	solo5NoteHdr  = 20 // Elf64_Nhdr + "Solo5\0" padded to 8
	elf64NhdrSize = 12
	elf64EhdrSize = 64
	elf64PhdrSize = 56
	ptLoad        = 1
	ptNote        = 4
	pfX, pfW, pfR = 1, 2, 4
)

type mftEntry struct {
	name string
	typ  uint32

	// Filled in by the stand-in's modules.
	attached  bool
	file      *os.File
	mac       [6]byte
	mtu       int
	capacity  uint64
	blockSize uint16
}

type manifest struct {
	entries []mftEntry
}

func (m *manifest) byName(name string, typ uint32) *mftEntry {
	for i := range m.entries {
		if m.entries[i].typ == typ && m.entries[i].name == name {
			return &m.entries[i]
		}
	}
	return nil
}

func mftTypeString(typ uint32) string {
	switch typ {
	case mftBlockBasic:
		return "BLOCK_BASIC"
	case mftNetBasic:
		return "NET_BASIC"
	case mftReservedFirst:
		return "RESERVED_FIRST"
	}
	return "<undefined type>"
}

type phdr struct {
	typ, flags                   uint32
	offset, vaddr, filesz, memsz uint64
	align                        uint64
}

type kernelImage struct {
	path  string
	f     *os.File
	entry uint64
	phdrs []phdr
	mft   *manifest
	abi   [4]uint32

	// Filled by checkLoad, used for the memory map banner.
	etext, erodata, end uint64
}

func elfMachine() uint16 {
	switch runtime.GOARCH {
	case "arm64":
		return 183 // EM_AARCH64
	case "ppc64le":
		return 21 // EM_PPC64
	}
	return 62 // EM_X86_64
}

// preadFull mirrors pread_in_full: short reads only at end of file.
func preadFull(f *os.File, n int, off uint64) ([]byte, error) {
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, int64(off))
	if err == io.EOF {
		err = nil
	}
	return buf[:got], err
}

// loadKernel opens KERNEL, checks the ABI note against this tender and reads
// and validates the manifest, exiting like the real tender on any problem.
func (t *tender) loadKernel(path string) *kernelImage {
	f, err := os.Open(path)
	if err != nil {
		t.err(1, err, "%s: Could not open", path)
	}
	img := &kernelImage{path: path, f: f}

	abi, ok := t.loadNote(img, noteTypeABI1, 4, abiNoteMaxSize)
	if !ok {
		t.errx(1, "%s: No Solo5 ABI information found in executable", path)
	}
	for i := range img.abi {
		if len(abi) >= 4*(i+1) {
			img.abi[i] = le.Uint32(abi[4*i:])
		}
	}
	if img.abi[0] != t.target {
		t.errx(1, "%s: Executable is not for the solo5-%s target", path, t.name)
	}
	if img.abi[1] != abiVersion {
		t.errx(1, "%s: Executable requests unsupported ABI version %d", path, img.abi[1])
	}

	raw, ok := t.loadNote(img, noteTypeMFT1, 8, mftNoteMaxSize)
	if !ok {
		t.errx(1, "%s: No Solo5 manifest found in executable", path)
	}
	m, ok := parseManifest(raw)
	if !ok {
		t.errx(1, "%s: Solo5 manifest is invalid", path)
	}
	img.mft = m
	return img
}

func ehdrIsValid(h []byte) bool {
	return h[0] == 0x7f && h[1] == 'E' && h[2] == 'L' && h[3] == 'F' &&
		h[4] == 2 /* ELFCLASS64 */ && h[5] == 1 /* ELFDATA2LSB */ &&
		le.Uint32(h[20:]) == 1 /* EV_CURRENT */ &&
		le.Uint16(h[52:]) == elf64EhdrSize &&
		le.Uint16(h[56:]) >= 1 &&
		le.Uint16(h[54:]) == elf64PhdrSize &&
		le.Uint16(h[16:]) == 2 /* ET_EXEC */ &&
		le.Uint16(h[18:]) == elfMachine()
}

// readHeaders reads the ELF and program headers once.
func (t *tender) readHeaders(img *kernelImage, what string) {
	if img.phdrs != nil {
		return
	}
	h, err := preadFull(img.f, elf64EhdrSize, 0)
	if err != nil {
		t.errx(1, "%s: pread_in_full for elf header while loading %s returned -1 < 0", img.path, what)
	}
	if len(h) != elf64EhdrSize {
		t.errx(1, "%s: %s: elf header does not match the expected size (%d != %d)",
			img.path, invExe, len(h), elf64EhdrSize)
	}
	if !ehdrIsValid(h) {
		if what == "note" {
			t.errx(1, "%s: %s: invalid or unsupported executable (elf header invalid while loading note)",
				img.path, invExe)
		}
		t.errx(1, "%s: invalid or unsupported executable (elf header invalid while loading elf)", img.path)
	}
	img.entry = le.Uint64(h[24:])
	phoff := le.Uint64(h[32:])
	phnum := int(le.Uint16(h[56:]))
	size := phnum * elf64PhdrSize
	p, err := preadFull(img.f, size, phoff)
	if err != nil {
		t.errx(1, "%s: pread_in_full for ph_size returned -1 < 0 while loading %s", img.path, what)
	}
	if len(p) != size {
		t.errx(1, "%s: %s: program header does not match the expected size (%d != %d while loading %s)",
			img.path, invExe, len(p), size, what)
	}
	img.phdrs = make([]phdr, phnum)
	for i := range img.phdrs {
		b := p[i*elf64PhdrSize:]
		img.phdrs[i] = phdr{
			typ: le.Uint32(b[0:]), flags: le.Uint32(b[4:]),
			offset: le.Uint64(b[8:]), vaddr: le.Uint64(b[16:]),
			filesz: le.Uint64(b[32:]), memsz: le.Uint64(b[40:]), align: le.Uint64(b[48:]),
		}
	}
}

// loadNote mirrors elf_load_note: the descriptor of the first Solo5 note of
// noteType (after the internal alignment padding), or false if absent.
func (t *tender) loadNote(img *kernelImage, noteType uint32, align, maxSize int) ([]byte, bool) {
	t.readHeaders(img, "note")
	for i, ph := range img.phdrs {
		if ph.typ != ptNote {
			continue
		}
		if ph.filesz < elf64NhdrSize {
			t.errx(1, "%s: %s: phdr[%d].p_filesz note does not fall within valid size (%d < %d)",
				img.path, invExe, i, ph.filesz, elf64NhdrSize)
		}
		if ph.filesz < solo5NoteHdr {
			continue
		}
		h, err := preadFull(img.f, solo5NoteHdr, ph.offset)
		if err != nil {
			t.errx(1, "%s: phdr[%d] pread_in_full returned -1", img.path, i)
		}
		if len(h) != solo5NoteHdr {
			t.errx(1, "%s: phdr[%d] bytes read mismatches note size (%d != %d)", img.path, i, len(h), solo5NoteHdr)
		}
		namesz, descsz, typ := le.Uint32(h[0:]), le.Uint32(h[4:]), le.Uint32(h[8:])
		if namesz != 6 || string(h[12:18]) != "Solo5\x00" || typ != noteType {
			continue
		}
		if descsz < 1 || uint64(descsz) > uint64(maxSize) {
			t.errx(1, "%s: %s: phdr[%d] note does not fall within valid size (%d < 1 || %d > %d)",
				img.path, invExe, i, descsz, descsz, maxSize)
		}
		if ph.filesz < uint64(solo5NoteHdr)+uint64(descsz) {
			t.errx(1, "%s: %s: phdr[%d] note does not fall within valid size (%d < %d)",
				img.path, invExe, i, ph.filesz, solo5NoteHdr+int(descsz))
		}
		offset := (solo5NoteHdr + align - 1) &^ (align - 1)
		pad := uint64(offset - solo5NoteHdr)
		size := uint64(descsz) - pad // may wrap, as size_t does in C
		if size == 0 || size > uint64(descsz) {
			t.errx(1, "%s: INV_EXE: phdr[%d] note does not fall within valid size (%d <= 0 || %d > %d)",
				img.path, i, size, size, descsz)
		}
		data, err := preadFull(img.f, int(size), ph.offset+uint64(offset))
		if err != nil {
			t.errx(1, "%s: phdr[%d] pread_in_full for note_data returned -1 < 0", img.path, i)
		}
		if uint64(len(data)) != size {
			t.errx(1, "%s: phdr[%d] bytes read mismatches note size (%d != %d)", img.path, i, len(data), size)
		}
		return data, true
	}
	return nil, false
}

// parseManifest mirrors mft_validate and decodes the entries.
func parseManifest(b []byte) (*manifest, bool) {
	if len(b) < 8 {
		return nil, false
	}
	version, entries := le.Uint32(b[0:]), le.Uint32(b[4:])
	if version != 1 || entries > mftMaxEntries {
		return nil, false
	}
	if uint64(len(b)) != 8+uint64(entries)*mftEntrySize {
		return nil, false
	}
	if entries < 1 {
		return nil, false
	}
	m := &manifest{}
	for i := 0; i < int(entries); i++ {
		e := b[8+i*mftEntrySize : 8+(i+1)*mftEntrySize]
		if e[mftNameMax] != 0 {
			return nil, false
		}
		if e[96] != 0 { // attached
			return nil, false
		}
		name := e[:mftNameSize]
		for j, c := range name {
			if c == 0 {
				name = name[:j]
				break
			}
		}
		m.entries = append(m.entries, mftEntry{name: string(name), typ: le.Uint32(e[68:])})
	}
	if m.entries[0].typ != mftReservedFirst || m.entries[0].name != "" {
		return nil, false
	}
	return m, true
}

// checkLoad mirrors the validation part of elf_load (the stand-in loads
// nothing), exiting with the real messages. It records the layout used by
// the memory map banner.
func (img *kernelImage) checkLoad(t *tender, memSize uint64) {
	t.readHeaders(img, "elf")
	fail := func(format string, args ...any) {
		t.errx(1, "%s: %s: %s", img.path, invExe, fmt.Sprintf(format, args...))
	}
	if img.entry < guestMinBase || img.entry >= memSize {
		fail("e_entry does not fall within the memory allocation range (%d < %d || %d >= %d)",
			img.entry, guestMinBase, img.entry, memSize)
	}
	var end, last uint64
	for i, ph := range img.phdrs {
		if ph.filesz == 0 || ph.typ != ptLoad {
			continue
		}
		if ph.vaddr < guestMinBase {
			fail("phdr[%d].p_vaddr outside of valid memory range (%d < %d)", i, ph.vaddr, guestMinBase)
		}
		if ph.vaddr < last {
			fail("phdr[%d].p_vaddr is not in ascending order (%d < %d)", i, ph.vaddr, last)
		}
		last = ph.vaddr
		if ph.align == 0 || ph.align&(ph.align-1) != 0 {
			fail("phdr[%d].p_vaddr is outside of memory range (align_down with %d (p_vaddr) and %d (p_align) failed)",
				i, ph.vaddr, ph.align)
		}
		start := ph.vaddr &^ (ph.align - 1)
		if start < guestMinBase {
			fail("phdr[%d].p_vaddr_start is outside of memory range (%d < %d (p_min_loadaddr))", i, start, guestMinBase)
		}
		if start < end {
			fail("phdr[%d].p_vaddr_start is outside of memory range (%d < %d (e_end))", i, start, end)
		}
		if ph.vaddr >= memSize {
			fail("phdr[%d] program file segment falls outside of valid range (%d >= %d (mem_size))", i, ph.vaddr, memSize)
		}
		if ph.vaddr+ph.filesz < ph.vaddr || ph.vaddr+ph.filesz > memSize {
			fail("phdr[%d] program file segment falls outside of valid range (%d (p_vaddr + p_filesz) > %d (mem_size))",
				i, ph.vaddr+ph.filesz, memSize)
		}
		if ph.memsz < ph.filesz {
			fail("phdr[%d] program memory segment falls outside of valid range (%d (p_memsz) < %d (p_filesz))",
				i, ph.memsz, ph.filesz)
		}
		segEnd := (ph.vaddr + ph.memsz + ph.align - 1) &^ (ph.align - 1)
		if segEnd < ph.vaddr || segEnd > memSize {
			fail("phdr[%d] program memory segment falls outside of valid range (%d (p_vaddr + p_memsz) > %d (mem_size))",
				i, segEnd, memSize)
		}
		if segEnd > end {
			end = segEnd
		}
		if start&(pageSize-1) != 0 {
			fail("phdr[%d] p_vaddr_start not aligned with architectural page size (%d & (%d - 1))", i, start, pageSize)
		}
		if segEnd&(pageSize-1) != 0 {
			fail("phdr[%d] p_vaddr_end not aligned with architectural page size (%d & (%d - 1))", i, segEnd, pageSize)
		}
		if ph.flags&pfW != 0 && ph.flags&pfX != 0 {
			fail("phdr[%d] requests WRITE and EXEC permissions", i)
		}
		if ph.flags&pfX != 0 && img.etext == 0 {
			img.etext = segEnd
		}
		if ph.flags&pfW == 0 {
			img.erodata = segEnd
		}
	}
	if img.etext == 0 {
		img.etext = guestMinBase
	}
	if img.erodata < img.etext {
		img.erodata = img.etext
	}
	img.end = end
	if img.end < img.erodata {
		img.end = img.erodata
	}
}
