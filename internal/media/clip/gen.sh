#!/bin/sh
# Regenerates the built-in clip and the media test fixtures (see README.md).
set -e
cd "$(dirname "$0")"
q="-hide_banner -loglevel error -y"
ffmpeg $q -f lavfi -i "testsrc2=size=640x360:rate=30" -t 4 -c:v libvpx -b:v 1600k -minrate 1600k -maxrate 1600k \
	-g 30 -keyint_min 30 -deadline realtime -cpu-used 8 -error-resilient 1 -auto-alt-ref 0 -f ivf clip.ivf
ffmpeg $q -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 4 -ac 2 -c:a libopus -b:a 64k \
	-page_duration 20000 -frame_duration 20 -f ogg clip.ogg
ffmpeg $q -f lavfi -i "color=c=black:size=320x240:rate=30" -t 1 -c:v libvpx -b:v 100k -g 30 -f ivf ../testdata/black.ivf
ffmpeg $q -f lavfi -i "testsrc2=size=320x240:rate=30" -t 2 -c:v libx264 -profile:v baseline -level 3.1 \
	-pix_fmt yuv420p -g 30 -bsf:v h264_mp4toannexb -f h264 ../testdata/clip.h264
# Simulcast renditions (publish --simulcast): the same picture in three
# sizes, keyframes on the same frames so that a viewer switching layers
# finds one soon on every layer.
for l in "q 320x180 150k" "h 640x360 500k" "f 1280x720 1500k"; do
	set -- $l
	ffmpeg $q -f lavfi -i "testsrc2=size=$2:rate=30" -t 4 -c:v libvpx -b:v $3 -minrate $3 -maxrate $3 \
		-g 30 -keyint_min 30 -deadline realtime -cpu-used 8 -error-resilient 1 -auto-alt-ref 0 -f ivf simulcast-$1.ivf
done
