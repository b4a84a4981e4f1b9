//! Box-level checks of planned clips: the tables mp4-atom decodes from the head describe the
//! samples in the order the caller sends them, and large clips switch to 64-bit sizes.

use mp4_atom::{Any, Decode, StszSamples};

use super::tests::{H264, H264_AAC, clip_sample, decode_moov, load, top_level};
use super::*;
use crate::media::Sample;

#[test]
fn clip_tables_describe_the_samples_in_the_order_given() {
    let fx = load(H264_AAC);
    let all = fx.all_samples();
    let clip: Vec<ClipSample> = all.iter().map(clip_sample).collect();
    let layout = plan_clip(&fx.tracks, &clip, 1500, 2500).unwrap();
    let head = &layout.head;
    let boxes = top_level(&head[..head.len() - 8]);
    assert_eq!(
        boxes.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(),
        ["ftyp", "moov"]
    );
    let mdat = &head[head.len() - 8..];
    assert_eq!(&mdat[4..], b"mdat");
    assert_eq!(
        u32::from_be_bytes(mdat[..4].try_into().unwrap()) as u64,
        layout.mdat_len + 8
    );
    // The file as the HTTP layer would send it.
    let mut file = head.to_vec();
    for &i in &layout.samples {
        file.extend_from_slice(&all[i].data);
    }
    assert_eq!(file.len() as u64, layout.len());
    assert_eq!(layout.duration_ms, 1000);

    let (_, moov) = decode_moov(head);
    assert_eq!(moov.mvhd.duration, 1000);
    for trak in &moov.trak {
        let number = u64::from(trak.tkhd.track_id);
        let kept: Vec<&Sample> = layout
            .samples
            .iter()
            .map(|&i| &all[i])
            .filter(|s| s.track == number)
            .collect();
        let stbl = &trak.mdia.minf.stbl;
        let StszSamples::Different { sizes } = &stbl.stsz.samples else {
            panic!()
        };
        assert_eq!(sizes.len(), kept.len());
        // Walk chunks with stsc and check every sample's bytes in the file.
        let offsets = &stbl.stco.as_ref().unwrap().entries;
        let stsc = &stbl.stsc.entries;
        let mut sample = 0;
        for (c, &offset) in offsets.iter().enumerate() {
            let chunk = c as u32 + 1;
            let per = stsc
                .iter()
                .rev()
                .find(|e| e.first_chunk <= chunk)
                .unwrap()
                .samples_per_chunk;
            let mut pos = offset as usize;
            for _ in 0..per {
                let size = sizes[sample] as usize;
                assert_eq!(size, kept[sample].data.len());
                assert_eq!(&file[pos..pos + size], &kept[sample].data[..]);
                pos += size;
                sample += 1;
            }
        }
        assert_eq!(sample, kept.len(), "chunks cover all samples");
        let elst = &trak.edts.as_ref().unwrap().elst.as_ref().unwrap().entries;
        let last = elst.last().unwrap();
        let ts = u64::from(trak.mdia.mdhd.timescale);
        if number == 1 {
            // Video starts at the keyframe at 1000 ms; presentation at 1500 ms.
            assert!(kept[0].key && kept[0].pts_ms == 1000);
            assert_eq!(elst.len(), 1);
            assert_eq!(last.media_time, Some(500 * 90));
            let stss = &stbl.stss.as_ref().unwrap().entries;
            assert_eq!(stss[0], 1);
            let total: u64 = stbl
                .stts
                .entries
                .iter()
                .map(|e| u64::from(e.sample_count * e.sample_delta))
                .sum();
            assert_eq!(total, trak.mdia.mdhd.duration);
        } else {
            assert!(stbl.stts.entries.iter().all(|e| e.sample_delta == 1024));
            assert!(stbl.stss.is_none(), "every aac frame is a sync sample");
            // One frame of pre-roll before 1500 ms.
            assert!(kept[0].pts_ms < 1500 && kept[1].pts_ms <= 1500 + 22);
            let media_time = last.media_time.unwrap();
            assert_eq!(media_time, (1500 - kept[0].dts_ms as u64) * ts / 1000);
        }
        assert!(last.segment_duration.abs_diff(1000) <= 1, "{elst:?}");
    }
}

#[test]
fn clips_past_4_gib_use_64_bit_chunk_offsets() {
    let fx = load(H264);
    let clip: Vec<ClipSample> = (0..4)
        .map(|i| ClipSample {
            track: 1,
            pts_ms: i * 1000,
            dts_ms: i * 1000,
            duration_ms: 1000,
            key: true,
            size: 2_000_000_000,
        })
        .collect();
    let layout = plan_clip(&fx.tracks, &clip, 0, 4000).unwrap();
    assert_eq!(layout.mdat_len, 8_000_000_000);
    let head = &layout.head;
    let mdat = &head[head.len() - 16..];
    assert_eq!(&mdat[..8], [0, 0, 0, 1, b'm', b'd', b'a', b't']);
    let (_, moov) = decode_moov(head);
    let stbl = &moov.trak[0].mdia.minf.stbl;
    assert!(stbl.stco.is_none());
    let co64 = &stbl.co64.as_ref().unwrap().entries;
    assert_eq!(co64, &[head.len() as u64]);
    assert_eq!(stbl.stsc.entries.len(), 1);
    assert_eq!(stbl.stsc.entries[0].samples_per_chunk, 4);
    // Any decodes the whole head too (no unknown boxes).
    let mut buf = &head[..head.len() - 16];
    while !buf.is_empty() {
        Any::decode(&mut buf).unwrap();
    }
}
