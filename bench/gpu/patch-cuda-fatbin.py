# Reduces every fatbin container of a CUDA library to one entry: the compute_90 PTX, relabelled from PTX ISA 9.1
# to 9.0 so a CUDA 13.0 driver JIT-compiles it for sm_90 (H100). The entry takes the container's whole space, so
# its recompressed text always fits; everything else is zeroed (and compresses to nothing for the transfer).
import struct, sys, subprocess
src, dst = sys.argv[1], sys.argv[2]
data = bytearray(open(src,'rb').read())
out = subprocess.check_output(['readelf','-S','-W',src]).decode()
for line in out.splitlines():
    if '.nv_fatbin' in line:
        p=line.split(); i=p.index('.nv_fatbin'); off=int(p[i+3],16); size=int(p[i+4],16)
pos=off; n=0
while pos<off+size:
    magic,ver,hsz,fsz=struct.unpack_from('<IHHQ',data,pos)
    if magic!=0xBA55ED50: pos+=8; continue
    e=pos+hsz; found=None
    while e<pos+hsz+fsz:
        kind,attr,ehsz,psize=struct.unpack_from('<HHIQ',data,e)
        csize,_,minor,major,arch=struct.unpack_from('<IIHHI',data,e+16)
        if kind==1 and arch==90: found=(bytes(data[e:e+ehsz]), bytes(data[e+ehsz:e+ehsz+csize]))
        e+=ehsz+psize
    assert found
    header, comp = found
    ptx=subprocess.run(['zstd','-d','-c'],input=comp,capture_output=True,check=True).stdout
    assert struct.unpack_from('<Q',header,56)[0]==len(ptx)
    ptx2=ptx.replace(b'.version 9.1\n',b'.version 9.0\n',1)
    assert ptx2!=ptx and len(ptx2)==len(ptx)
    new=subprocess.run(['zstd','-19','-c','-q','--no-check','--stream-size=%d'%len(ptx2)],input=ptx2,capture_output=True,check=True).stdout
    h=bytearray(header); ehsz=len(h); room=fsz-ehsz
    assert len(new)<=room, (len(new), room)
    struct.pack_into('<Q',h,8,room); struct.pack_into('<I',h,16,len(new)); struct.pack_into('<H',h,24,0)
    start=pos+hsz
    data[start:start+fsz]=bytes(h)+new+bytes(room-len(new))
    n+=1
    pos+=hsz+fsz
print('containers', n)
open(dst,'wb').write(data)
