/* SPDX-License-Identifier: MIT */
/*
 * hob.h - the HOB list a VMM hands a TDVF firmware in its TD_HOB section
 * (UEFI PI spec vol. 3, "HOB Code Definitions"; TDVF design guide, "TD
 * HOB").  Format only: the VMM's builder (src/cli/tdhob.c, as QEMU's
 * hw/i386/tdvf-hob.c) writes it, the firmware guest (tdvf_fw.c, as OVMF's
 * PlatformInitLib/IntelTdx.c) reads it.  Every field is little endian; a
 * HOB's length is a multiple of 8 and the next HOB starts right after it.
 *
 *   generic header (8):  u16 HobType, u16 HobLength, u32 Reserved (0)
 *   PHIT (type 1, 56):   header, u32 Version (9), u32 BootMode, u64
 *                        EfiMemoryTop, EfiMemoryBottom, EfiFreeMemoryTop,
 *                        EfiFreeMemoryBottom, EfiEndOfHobList
 *   resource descriptor (type 3, 48): header, Owner GUID (16), u32
 *                        ResourceType, u32 ResourceAttribute, u64
 *                        PhysicalStart, u64 ResourceLength
 *   end of list (type 0xFFFF, 8): a header alone
 */
#ifndef TDXSIM_HOB_H
#define TDXSIM_HOB_H

/* HobType */
#define HOB_TYPE_HANDOFF		0x0001	/* EFI_HOB_HANDOFF_INFO_TABLE (PHIT) */
#define HOB_TYPE_MEMORY_ALLOCATION	0x0002
#define HOB_TYPE_RESOURCE_DESCRIPTOR	0x0003
#define HOB_TYPE_GUID_EXTENSION		0x0004
#define HOB_TYPE_FV			0x0005
#define HOB_TYPE_CPU			0x0006
#define HOB_TYPE_FV2			0x0009
#define HOB_TYPE_FV3			0x000c
#define HOB_TYPE_END_OF_HOB_LIST	0xffff

/* HobLength of the fixed-size HOBs */
#define HOB_HEADER_BYTES		8
#define HOB_PHIT_BYTES			56
#define HOB_RESOURCE_BYTES		48
#define HOB_GUID_MIN_BYTES		24	/* header and the GUID, then its data */
#define HOB_FV_BYTES			24
#define HOB_FV2_BYTES			56
#define HOB_FV3_BYTES			64
#define HOB_CPU_BYTES			16

/* PHIT fields (offsets from the HOB's start) */
#define HOB_PHIT_VERSION		8
#define HOB_PHIT_BOOT_MODE		12
#define HOB_PHIT_FREE_MEMORY_TOP	32
#define HOB_PHIT_END_OF_HOB_LIST	48
#define HOB_HANDOFF_TABLE_VERSION	0x0009

/* resource descriptor fields */
#define HOB_RES_OWNER			8
#define HOB_RES_TYPE			24
#define HOB_RES_ATTRIBUTE		28
#define HOB_RES_START			32
#define HOB_RES_LENGTH			40

/* ResourceType (EFI_RESOURCE_TYPE; 7 is the unaccepted memory of PI 1.8) */
#define EFI_RESOURCE_SYSTEM_MEMORY		0
#define EFI_RESOURCE_MEMORY_MAPPED_IO		1
#define EFI_RESOURCE_IO				2
#define EFI_RESOURCE_FIRMWARE_DEVICE		3
#define EFI_RESOURCE_MEMORY_MAPPED_IO_PORT	4
#define EFI_RESOURCE_MEMORY_RESERVED		5
#define EFI_RESOURCE_IO_RESERVED		6
#define EFI_RESOURCE_MEMORY_UNACCEPTED		7

/* ResourceAttribute: the three settings bits, and every bit OVMF's ValidateHobList accepts */
#define EFI_RESOURCE_ATTRIBUTE_PRESENT		0x00000001u
#define EFI_RESOURCE_ATTRIBUTE_INITIALIZED	0x00000002u
#define EFI_RESOURCE_ATTRIBUTE_TESTED		0x00000004u
#define HOB_RES_ATTRIBUTES_KNOWN		0x03ffffffu	/* bits 0..25 (PRESENT .. MORE_RELIABLE) */

/*
 * What QEMU writes (hw/i386/tdvf-hob.h, mainline): the same three bits for
 * RAM it added (EFI_RESOURCE_ATTRIBUTE_TDVF_PRIVATE) and for unaccepted RAM
 * (EFI_RESOURCE_ATTRIBUTE_TDVF_UNACCEPTED).
 */
#define TDVF_HOB_ATTR_PRIVATE	(EFI_RESOURCE_ATTRIBUTE_PRESENT | \
				 EFI_RESOURCE_ATTRIBUTE_INITIALIZED | \
				 EFI_RESOURCE_ATTRIBUTE_TESTED)
#define TDVF_HOB_ATTR_UNACCEPTED TDVF_HOB_ATTR_PRIVATE

#endif
